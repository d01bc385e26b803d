-- Run once by the postgres image on an empty data volume: the MLflow server's database beside
-- Dagster's (POSTGRES_DB). Both belong to POSTGRES_USER.
CREATE DATABASE mlflow;
