"""The language model: one small base (Gemma 3 270M) with two LoRA adapters, off the hot path.

Modules, in the order a case flows through them:

    base.py            packaged GGUF -> bf16 safetensors folder, once (idempotent, marker)
    facts.py           a Decision -> CaseFacts: everything computable, computed in code
    features_text.py   plain words for features (descriptions, the check an analyst makes)
    prompts.py         both prompts; untrusted customer text sanitised and delimited
    wording.py         explanation texts from facts: training targets and the template fallback
    faithfulness.py    does a text state only what is true of its case? format adherence
    signals.py         risk signals of messages: closed vocabulary, keyword reading
    analysis.py        the analyse task's records and answer layout
    tokens.py          prompt/answer tokenisation shared by training and scoring
    scoring.py         answer-token log-likelihoods (output layer only where needed)
    train.py           LoRA training (CPU or CUDA, bf16 autocast, loss on answers only)
    engine.py          inference: both adapters on one base, merged per batch
    evaluate.py        held-out metrics, adapter vs the prompted base model
    adapters.py        adapter folders and their metadata
    registry.py        MLflow: publish, version, alias, fetch by version

Nothing here talks to Kafka or imports the simulator or the rules (layering):
the worker (``services.llm_worker``) builds the data and wires the process.
The model never decides: it words facts and reads messages.
"""
