"""The LLM worker process and the tooling around its adapters.

wiring.py      build the worker from settings (priority, threads, engine, Kafka loop)
handler.py     cases -> explanations, messages -> analyses, fallbacks, exactly one each
runner.py      the model thread: bounded queue, batching by task, deadlines
metrics.py     Prometheus metrics
rule_text.py   reason codes in plain words, from the scorer's rule set
dataset.py     training / held-out data from the simulator and the real scoring pipeline
training.py    train -> evaluate -> publish, per task (``fraudstream llm train``)
evaluation.py  adapters vs the prompted base model (``fraudstream llm eval``)
bench.py       load time, memory, latency, throughput (``fraudstream llm bench``)
coverage.py    did every flagged case get an explanation? (``fraudstream llm coverage``)
"""
