"""The nightly work the Airflow DAGs run: one idempotent function per step, each taking (settings, night)."""
