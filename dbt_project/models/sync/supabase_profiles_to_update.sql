-- Update pass input of supabase.profiles.update (macro supabase_to_update).
{{ supabase_to_update('profiles') }}
