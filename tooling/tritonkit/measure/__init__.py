"""Load against a served model and what it measured: payloads, the async client, open- and
closed-loop load generation, server-side statistics, and the Measurement they add up to."""
