-- Update pass input of supabase.cases.update (macro supabase_to_update).
{{ supabase_to_update('cases') }}
