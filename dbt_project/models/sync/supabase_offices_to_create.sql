-- Create pass input of supabase.offices.create (macro supabase_to_create).
{{ supabase_to_create('offices') }}
