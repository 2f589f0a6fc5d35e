{# Temporary views (rendered without a schema: a unit test's column probe, `<name>__dbt_tmp`) are left to
   be replaced, not dropped. The SQL endpoint shares one Spark session between its connections, and a
   closing connection uncaches every temporary view it lists: dropping one while another connection
   closes fails that close (TABLE_OR_VIEW_NOT_FOUND), and dbt fails the node. A kept probe is an empty
   view, replaced by the next run. #}
{% macro spark__drop_relation(relation) -%}
  {%- if not relation.include_policy.schema and relation.identifier.endswith('__dbt_tmp') -%}
    {{ log("keeping temporary view " ~ relation ~ " (macros/drop_relation.sql)") }}
  {%- else -%}
    {% call statement('drop_relation', auto_begin=False) -%}
      drop {{ relation.type }} if exists {{ relation }}
    {%- endcall %}
  {%- endif -%}
{% endmacro %}
