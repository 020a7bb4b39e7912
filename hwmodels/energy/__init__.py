"""Energy per operation: tables, precision and technology scaling, MAC energy."""
