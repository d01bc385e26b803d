"""What runs without a person: jobs, sensors, schedules, automation and freshness policies,
retention."""
