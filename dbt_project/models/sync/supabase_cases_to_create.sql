-- Create pass input of supabase.cases.create (macro supabase_to_create).
{{ supabase_to_create('cases') }}
