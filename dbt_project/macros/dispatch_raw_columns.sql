{#-
  The raw tables of the dispatch -> Supabase slice, as dlt lands them
  (docs/dispatch_supabase.md, "Raw layer"), column by column, for source_or_empty():
  a warehouse that never extracted the legacy dispatch database or the Supabase
  read-back still builds the whole project, these models answering no rows instead
  of failing. The types are dbt's portable names (raw_column_type()); uuid and json
  columns are declared as text, the way dlt may land them (staging casts every column
  to the target's type).
-#}
{% macro dispatch_raw_columns() %}
{%- set dlt = [('_dlt_load_id', 'text'), ('_dlt_id', 'text')] -%}
{%- set dispatch = dlt + [('_dispatch_deleted_at', 'timestamptz')] -%}
{%- set stamps = [('created_at', 'timestamptz'), ('updated_at', 'timestamptz')] -%}
{{- return({
    'dispatch.dispatch_office': [
        ('id', 'bigint'),
        ('name', 'text'),
        ('address', 'text'),
        ('phone', 'text'),
        ('timezone', 'text'),
        ('is_active', 'boolean'),
    ] + stamps + dispatch,
    'dispatch.dispatch_user': [
        ('id', 'bigint'),
        ('email', 'text'),
        ('first_name', 'text'),
        ('last_name', 'text'),
        ('role', 'text'),
        ('office_id', 'bigint'),
        ('is_active', 'boolean'),
    ] + stamps + dispatch,
    'dispatch.dispatch_doctor': [
        ('id', 'bigint'),
        ('user_id', 'bigint'),
        ('office_id', 'bigint'),
        ('license_number', 'text'),
        ('specialty', 'text'),
    ] + stamps + dispatch,
    'dispatch.dispatch_patient_status': [
        ('id', 'bigint'),
        ('name', 'text'),
    ] + dispatch,
    'dispatch.dispatch_patient': [
        ('id', 'bigint'),
        ('office_id', 'bigint'),
        ('user_id', 'bigint'),
        ('doctor_id', 'bigint'),
        ('patient_number', 'text'),
        ('first_name', 'text'),
        ('last_name', 'text'),
        ('birth_date', 'date'),
        ('status_id', 'bigint'),
    ] + stamps + dispatch,
    'dispatch.dispatch_instruction': [
        ('id', 'bigint'),
        ('patient_id', 'bigint'),
        ('doctor_id', 'bigint'),
        ('type', 'text'),
        ('status', 'text'),
        ('notes', 'text'),
        ('submitted_at', 'timestamptz'),
    ] + stamps + dispatch,
    'dispatch.dispatch_operation': [
        ('id', 'bigint'),
        ('patient_id', 'bigint'),
        ('instruction_id', 'bigint'),
        ('type', 'text'),
        ('price', 'text'),
        ('sq_order_id', 'text'),
        ('sq_payment_id', 'text'),
        ('sq_refund_id', 'text'),
        ('card_brand', 'text'),
        ('card_bin', 'text'),
        ('card_last', 'text'),
        ('office_card', 'boolean'),
        ('payment_id', 'text'),
        ('made_at', 'timestamptz'),
    ] + stamps + dispatch,
    'supabase.offices': [
        ('id', 'text'),
        ('legacy_office_id', 'bigint'),
        ('name', 'text'),
        ('address', 'text'),
        ('phone', 'text'),
        ('timezone', 'text'),
        ('is_active', 'boolean'),
        ('deleted_at', 'timestamptz'),
    ] + stamps + dlt,
    'supabase.profiles': [
        ('id', 'text'),
        ('legacy_user_id', 'bigint'),
        ('email', 'text'),
        ('first_name', 'text'),
        ('last_name', 'text'),
        ('role', 'text'),
        ('office_id', 'text'),
        ('is_active', 'boolean'),
        ('deleted_at', 'timestamptz'),
    ] + stamps + dlt,
    'supabase.doctors': [
        ('id', 'text'),
        ('legacy_doctor_id', 'bigint'),
        ('profile_id', 'text'),
        ('office_id', 'text'),
        ('license_number', 'text'),
        ('specialty', 'text'),
        ('deleted_at', 'timestamptz'),
    ] + stamps + dlt,
    'supabase.patients': [
        ('id', 'text'),
        ('legacy_patient_id', 'bigint'),
        ('office_id', 'text'),
        ('profile_id', 'text'),
        ('doctor_id', 'text'),
        ('patient_number', 'text'),
        ('first_name', 'text'),
        ('last_name', 'text'),
        ('birth_date', 'date'),
        ('status', 'text'),
        ('treatment_phase', 'text'),
        ('legacy_data', 'text'),
        ('deleted_at', 'timestamptz'),
    ] + stamps + dlt,
    'supabase.cases': [
        ('id', 'text'),
        ('legacy_instruction_id', 'bigint'),
        ('patient_id', 'text'),
        ('doctor_id', 'text'),
        ('case_type', 'text'),
        ('status', 'text'),
        ('notes', 'text'),
        ('submitted_at', 'timestamptz'),
        ('deleted_at', 'timestamptz'),
    ] + stamps + dlt,
    'supabase.operations': [
        ('id', 'text'),
        ('legacy_operation_id', 'bigint'),
        ('case_id', 'text'),
        ('operation_type', 'text'),
        ('amount', 'text'),
        ('metadata', 'text'),
        ('made_at', 'timestamptz'),
        ('deleted_at', 'timestamptz'),
    ] + stamps + dlt,
}) -}}
{% endmacro %}
