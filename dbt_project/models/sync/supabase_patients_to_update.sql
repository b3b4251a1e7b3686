-- Update pass input of supabase.patients.update (macro supabase_to_update).
{{ supabase_to_update('patients') }}
