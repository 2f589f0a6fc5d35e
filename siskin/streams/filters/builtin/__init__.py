"""Standard filters: every module here registers its filters with `@register` when imported."""
