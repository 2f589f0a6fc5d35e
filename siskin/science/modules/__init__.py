"""Built-in science modules: every module here registers itself with `@register` when imported."""
