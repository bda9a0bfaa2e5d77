"""The CLI's commands, one module each; each registers itself with `chainrule.cli.command`."""
