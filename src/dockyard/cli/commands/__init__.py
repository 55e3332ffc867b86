"""One module per area; each handler is `def verb(ctx: Context, opts: Options) -> int`."""
