-- Update pass input of supabase.doctors.update (macro supabase_to_update).
{{ supabase_to_update('doctors') }}
