"""Tools for analysts and operators: report, discover, resolve and their renderers."""
