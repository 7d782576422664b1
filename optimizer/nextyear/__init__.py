"""Next year and what-if: rollover, scenarios and plan comparison, on tables, never in place."""
