-- Create pass input of supabase.operations.create (macro supabase_to_create).
{{ supabase_to_create('operations') }}
