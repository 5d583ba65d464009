"""The Faust shell around the routing core: topics, stages, tables, web views and the CLI."""
