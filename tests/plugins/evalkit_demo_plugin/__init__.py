"""A plugin package as a user would write one: a system and a metric that live outside
evalkit, named by import path (`--system evalkit_demo_plugin.systems:SoftEspeak`,
`--metrics evalkit_demo_plugin.metrics:ActiveSpeech`). Tests put tests/plugins on sys.path
and on PYTHONPATH (CLI subprocesses, Ray workers). `faults` holds systems that misbehave
on purpose, for the executor's fault tests.
"""
