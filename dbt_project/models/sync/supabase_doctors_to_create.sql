-- Create pass input of supabase.doctors.create (macro supabase_to_create).
{{ supabase_to_create('doctors') }}
