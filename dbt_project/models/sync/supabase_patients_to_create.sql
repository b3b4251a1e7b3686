-- Create pass input of supabase.patients.create (macro supabase_to_create).
{{ supabase_to_create('patients') }}
