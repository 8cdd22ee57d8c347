"""The small SqueezeBERT architecture the checkpoint tests build with transformers (every group count varied)."""

TINY_SQUEEZEBERT = dict(
    vocab_size=99, hidden_size=32, embedding_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=64, max_position_embeddings=64, q_groups=2, k_groups=2, v_groups=2,
    post_attention_groups=2, intermediate_groups=4, output_groups=1)
