{# Temporary views (no schema: a unit test's column probe) are left to be replaced, not dropped. The SQL
   endpoint shares one Spark session between its connections, and a closing connection uncaches every
   temporary view it lists: dropping one while another connection closes fails that close
   (TABLE_OR_VIEW_NOT_FOUND) and with it a node. A kept probe is an empty view, replaced on the next run. #}
{% macro spark__drop_relation(relation) -%}
  {%- if relation.schema is none -%}
    {{ log("keeping temporary view " ~ relation ~ " (see macros/drop_relation.sql)") }}
  {%- else -%}
    {% call statement('drop_relation', auto_begin=False) -%}
      drop {{ relation.type }} if exists {{ relation }}
    {%- endcall %}
  {%- endif -%}
{% endmacro %}
