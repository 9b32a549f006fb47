// Placeholder: the declared-events-only LogHandler goes here.
