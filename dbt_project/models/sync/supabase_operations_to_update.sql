-- Update pass input of supabase.operations.update (macro supabase_to_update).
{{ supabase_to_update('operations') }}
