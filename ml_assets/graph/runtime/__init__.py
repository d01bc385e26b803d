"""What the runs stand on: IO managers, resources, executors, retries and errors, dead runs, the
instance adapter, code versions, partitions."""
