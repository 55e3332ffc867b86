"""Registry client: resolve, pull, push, login, search."""
