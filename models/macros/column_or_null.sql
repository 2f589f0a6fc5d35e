{# `name` from `relation` when the table has that column (science columns land over time), else a typed NULL. #}
{% macro column_or_null(relation, name, type='string') -%}
  {%- set cols = [] -%}
  {%- if execute -%}
    {%- set cols = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
  {%- endif -%}
  {%- if name | lower in cols -%} {{ name }} {%- else -%} cast(null as {{ type }}) {%- endif -%}
{%- endmacro %}
