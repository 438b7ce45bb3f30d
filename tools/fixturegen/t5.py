"""Reference T5 encoder outputs from transformers' T5EncoderModel (fp32) on the tiny pipeline's text encoder.

fixtures/t5/reference.safetensors
  ids.<case>      I64 [1, S]   token ids (padded prompt as the pipeline builds it, empty prompt, random ids, and a
                               prompt of more than 226 tokens truncated to 225 + </s>)
  output.<case>   F32 [1, S, d_model]  last_hidden_state
  buckets         I64 [451]    transformers' relative position bucket for relative positions −225…225
"""
import os

import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, T5EncoderModel
from transformers.models.t5.modeling_t5 import T5Attention

from .common import tiny_root
from .pipelines import long_prompt


@torch.no_grad()
def generate(out):
    folder = os.path.join(tiny_root(out), "cogvideox-2b")
    model = T5EncoderModel.from_pretrained(os.path.join(folder, "text_encoder"), torch_dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
    cases = {
        "prompt": tok(["a panda playing guitar in a bamboo forest, cinematic"], padding="max_length", max_length=226,
                      truncation=True, add_special_tokens=True, return_tensors="pt").input_ids,
        "empty": tok([""], padding="max_length", max_length=226, truncation=True, add_special_tokens=True,
                     return_tensors="pt").input_ids,
        "long": tok([long_prompt()], padding="max_length", max_length=226, truncation=True,
                    add_special_tokens=True, return_tensors="pt").input_ids,
        "random": torch.randint(0, model.config.vocab_size, (1, 37), generator=torch.Generator().manual_seed(5)),
    }
    tensors = {}
    for name, ids in cases.items():
        tensors[f"ids.{name}"] = ids.to(torch.int64).contiguous()
        tensors[f"output.{name}"] = model(input_ids=ids).last_hidden_state.float().contiguous()
    rel = torch.arange(-225, 226)
    tensors["buckets"] = T5Attention._relative_position_bucket(rel, bidirectional=True, num_buckets=32, max_distance=128).to(torch.int64)
    os.makedirs(os.path.join(out, "t5"), exist_ok=True)
    save_file(tensors, os.path.join(out, "t5", "reference.safetensors"))
