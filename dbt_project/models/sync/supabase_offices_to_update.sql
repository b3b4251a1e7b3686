-- Update pass input of supabase.offices.update (macro supabase_to_update).
{{ supabase_to_update('offices') }}
