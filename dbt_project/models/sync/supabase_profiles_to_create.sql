-- Create pass input of supabase.profiles.create (macro supabase_to_create).
{{ supabase_to_create('profiles') }}
