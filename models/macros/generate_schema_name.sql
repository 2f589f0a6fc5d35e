{# Models go to the schema their folder names (dbt_staging, dbt_intermediate, dbt_marts), not
   <target schema>_<folder schema>. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
