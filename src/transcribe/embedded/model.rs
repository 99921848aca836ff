//! The Whisper network (encoder and decoder), built from CTranslate2's variables. The
//! weights are read-only and shared by every transcription; the decoder's per-hypothesis
//! state (self-attention keys and values) lives in a [`DecoderState`], so beams run as one
//! batch and each step feeds only the newest token.
//!
//! Layout as in OpenAI's `whisper/model.py`: pre-norm residual blocks, GELU MLPs, a key
//! projection without bias, sinusoidal encoder positions and learned decoder positions,
//! output logits from the token embedding (tied weights).

use candle_core::{Device, Module, Tensor, D};
use candle_nn::{Conv1d, Conv1dConfig, LayerNorm, Linear};

use super::ct2::Variables;

type Result<T> = std::result::Result<T, String>;

fn err(e: candle_core::Error) -> String {
    e.to_string()
}

/// Attention weights (f32) computed in one piece at most; more go a head at a time.
const ATTENTION_WEIGHTS_AT_ONCE: usize = 1 << 22;

/// Mel bins, and frames in one 30 s window (before the stride-2 convolution).
pub const N_MELS: usize = 80;
pub const N_FRAMES: usize = 3000;

struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    heads: usize,
}

struct Block {
    attn: Attention,
    attn_ln: LayerNorm,
    cross: Option<(Attention, LayerNorm)>,
    fc1: Linear,
    fc2: Linear,
    mlp_ln: LayerNorm,
}

pub struct Whisper {
    conv1: Conv1d,
    conv2: Conv1d,
    encoder_positions: Tensor,
    encoder: Vec<Block>,
    encoder_ln: LayerNorm,
    embeddings: Tensor,
    decoder_positions: Tensor,
    decoder: Vec<Block>,
    decoder_ln: LayerNorm,
    pub vocab: usize,
    pub max_tokens: usize,
}

/// What one window's decoding keeps between steps: per decoder layer the cross-attention
/// keys/values of the audio (computed once, shared by all beams) and the self-attention
/// keys/values of the tokens so far (one row per beam).
pub struct DecoderState {
    cross: Vec<(Tensor, Tensor)>,
    cached: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

fn linear(v: &mut Variables, name: &str, bias: bool) -> Result<Linear> {
    let w = v.take(&format!("{name}/weight"))?;
    let b = if bias {
        Some(v.take(&format!("{name}/bias"))?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}

/// Rows `part` of `parts` of a fused projection (CTranslate2 stores q, k, v as one matrix).
fn split(v: &mut Variables, name: &str, parts: usize) -> Result<Vec<(Tensor, Tensor)>> {
    let w = v.take(&format!("{name}/weight"))?;
    let b = v.take(&format!("{name}/bias"))?;
    let rows = w.dim(0).map_err(err)? / parts;
    (0..parts)
        .map(|i| {
            Ok((
                w.narrow(0, i * rows, rows)
                    .map_err(err)?
                    .contiguous()
                    .map_err(err)?,
                b.narrow(0, i * rows, rows)
                    .map_err(err)?
                    .contiguous()
                    .map_err(err)?,
            ))
        })
        .collect()
}

fn layer_norm(v: &mut Variables, name: &str) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        v.take(&format!("{name}/gamma"))?,
        v.take(&format!("{name}/beta"))?,
        1e-5,
    ))
}

fn block(v: &mut Variables, name: &str, heads: usize, cross: bool) -> Result<Block> {
    let qkv = split(v, &format!("{name}/self_attention/linear_0"), 3)?;
    let [(qw, qb), (kw, _), (vw, vb)]: [(Tensor, Tensor); 3] = qkv
        .try_into()
        .map_err(|_| format!("{name}: fused q/k/v projection"))?;
    let attn = Attention {
        query: Linear::new(qw, Some(qb)),
        // Whisper's key projection has no bias (CTranslate2 stores zeros).
        key: Linear::new(kw, None),
        value: Linear::new(vw, Some(vb)),
        out: linear(v, &format!("{name}/self_attention/linear_1"), true)?,
        heads,
    };
    let attn_ln = layer_norm(v, &format!("{name}/self_attention/layer_norm"))?;
    let cross = if cross {
        let q = linear(v, &format!("{name}/attention/linear_0"), true)?;
        let kv = split(v, &format!("{name}/attention/linear_1"), 2)?;
        let [(kw, _), (vw, vb)]: [(Tensor, Tensor); 2] = kv
            .try_into()
            .map_err(|_| format!("{name}: fused cross-attention k/v projection"))?;
        let a = Attention {
            query: q,
            key: Linear::new(kw, None),
            value: Linear::new(vw, Some(vb)),
            out: linear(v, &format!("{name}/attention/linear_2"), true)?,
            heads,
        };
        Some((a, layer_norm(v, &format!("{name}/attention/layer_norm"))?))
    } else {
        None
    };
    Ok(Block {
        attn,
        attn_ln,
        cross,
        fc1: linear(v, &format!("{name}/ffn/linear_0"), true)?,
        fc2: linear(v, &format!("{name}/ffn/linear_1"), true)?,
        mlp_ln: layer_norm(v, &format!("{name}/ffn/layer_norm"))?,
    })
}

fn layers(v: &Variables, side: &str) -> usize {
    (0..)
        .take_while(|i| {
            v.tensors
                .contains_key(&format!("{side}/layer_{i}/ffn/linear_0/weight"))
        })
        .count()
}

impl Whisper {
    pub fn from_variables(mut v: Variables) -> Result<Whisper> {
        if v.spec != "WhisperSpec" {
            return Err(format!("model.bin holds a {}, not a Whisper model", v.spec));
        }
        let enc_heads =
            usize::try_from(v.scalar("encoder/num_heads")?).map_err(|e| e.to_string())?;
        let dec_heads =
            usize::try_from(v.scalar("decoder/num_heads")?).map_err(|e| e.to_string())?;
        let (n_enc, n_dec) = (layers(&v, "encoder"), layers(&v, "decoder"));
        if n_enc == 0 || n_dec == 0 {
            return Err("model.bin has no encoder or decoder layers".into());
        }
        let conv = |stride| Conv1dConfig {
            padding: 1,
            stride,
            dilation: 1,
            groups: 1,
            cudnn_fwd_algo: None,
        };
        let conv1 = Conv1d::new(
            v.take("encoder/conv1/weight")?,
            Some(v.take("encoder/conv1/bias")?),
            conv(1),
        );
        let conv2 = Conv1d::new(
            v.take("encoder/conv2/weight")?,
            Some(v.take("encoder/conv2/bias")?),
            conv(2),
        );
        let encoder = (0..n_enc)
            .map(|i| block(&mut v, &format!("encoder/layer_{i}"), enc_heads, false))
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..n_dec)
            .map(|i| block(&mut v, &format!("decoder/layer_{i}"), dec_heads, true))
            .collect::<Result<Vec<_>>>()?;
        let embeddings = v.take("decoder/embeddings/weight")?;
        let decoder_positions = v.take("decoder/position_encodings/encodings")?;
        let (vocab, max_tokens) = (
            embeddings.dim(0).map_err(err)?,
            decoder_positions.dim(0).map_err(err)?,
        );
        Ok(Whisper {
            conv1,
            conv2,
            encoder_positions: v.take("encoder/position_encodings/encodings")?,
            encoder,
            encoder_ln: layer_norm(&mut v, "encoder/layer_norm")?,
            embeddings,
            decoder_positions,
            decoder,
            decoder_ln: layer_norm(&mut v, "decoder/layer_norm")?,
            vocab,
            max_tokens,
        })
    }

    /// The audio features of one window: `mel` is `[N_MELS, N_FRAMES]` row-major.
    pub fn encode(&self, mel: &[f32]) -> Result<Tensor> {
        let x = Tensor::from_slice(mel, (1, N_MELS, N_FRAMES), &Device::Cpu).map_err(err)?;
        let x = self
            .conv1
            .forward(&x)
            .and_then(|x| x.gelu_erf())
            .map_err(err)?;
        let x = self
            .conv2
            .forward(&x)
            .and_then(|x| x.gelu_erf())
            .map_err(err)?;
        let x = x.transpose(1, 2).map_err(err)?;
        let frames = x.dim(1).map_err(err)?;
        let pos = self.encoder_positions.narrow(0, 0, frames).map_err(err)?;
        let mut x = x.broadcast_add(&pos).map_err(err)?;
        for b in &self.encoder {
            x = b.forward(&x, None).map_err(err)?;
        }
        self.encoder_ln.forward(&x).map_err(err)
    }

    /// A decoder state for `audio` (the encoder's output): the cross-attention keys and
    /// values are computed here, once per window.
    pub fn start(&self, audio: &Tensor) -> Result<DecoderState> {
        let cross = self
            .decoder
            .iter()
            .map(|b| {
                let (a, _) = b
                    .cross
                    .as_ref()
                    .ok_or("decoder block without cross-attention")?;
                let k = a.heads(&a.key.forward(audio).map_err(err)?).map_err(err)?;
                let v = a
                    .heads(&a.value.forward(audio).map_err(err)?)
                    .map_err(err)?;
                Ok((
                    k.transpose(2, 3)
                        .and_then(|k| k.contiguous())
                        .map_err(err)?,
                    v.contiguous().map_err(err)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderState {
            cached: vec![None; cross.len()],
            cross,
            len: 0,
        })
    }

    /// Feeds `tokens` (`[beams][n]`, the same n for every beam) and returns the
    /// log-probabilities of the next token, `[beams][vocab]` flattened; `suppress` (`-inf`
    /// for tokens never to emit) is added to the logits first.
    pub fn step(
        &self,
        state: &mut DecoderState,
        tokens: &[Vec<u32>],
        suppress: Option<&Tensor>,
    ) -> Result<Vec<f32>> {
        let beams = tokens.len();
        let n = tokens.first().map_or(0, Vec::len);
        if state.len + n > self.max_tokens {
            return Err("the decoder's context is full".into());
        }
        let flat: Vec<u32> = tokens.iter().flatten().copied().collect();
        let ids = Tensor::from_vec(flat, beams * n, &Device::Cpu).map_err(err)?;
        let x = self
            .embeddings
            .index_select(&ids, 0)
            .and_then(|x| x.reshape((beams, n, ())))
            .map_err(err)?;
        let pos = self
            .decoder_positions
            .narrow(0, state.len, n)
            .map_err(err)?;
        let mut x = x.broadcast_add(&pos).map_err(err)?;
        let mask = (n > 1)
            .then(|| causal_mask(n, state.len))
            .transpose()
            .map_err(err)?;
        for (i, b) in self.decoder.iter().enumerate() {
            x = b
                .decode(&x, &state.cross[i], &mut state.cached[i], mask.as_ref())
                .map_err(err)?;
        }
        state.len += n;
        let last = x
            .narrow(1, n - 1, 1)
            .and_then(|x| x.squeeze(1))
            .and_then(|x| self.decoder_ln.forward(&x))
            .map_err(err)?;
        let mut logits = last
            .matmul(&self.embeddings.t().map_err(err)?)
            .map_err(err)?;
        if let Some(s) = suppress {
            logits = logits.broadcast_add(s).map_err(err)?;
        }
        candle_nn::ops::log_softmax(&logits, D::Minus1)
            .and_then(|l| l.flatten_all())
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(err)
    }

    /// Keeps the beams `from` (indices into the current beams, repeats allowed) in that order.
    pub fn reorder(&self, state: &mut DecoderState, from: &[u32]) -> Result<()> {
        let idx = Tensor::new(from, &Device::Cpu).map_err(err)?;
        for c in state.cached.iter_mut().flatten() {
            *c = (
                c.0.index_select(&idx, 0).map_err(err)?,
                c.1.index_select(&idx, 0).map_err(err)?,
            );
        }
        Ok(())
    }
}

/// `[n, past + n]`: token i sees the past and tokens up to i.
fn causal_mask(n: usize, past: usize) -> candle_core::Result<Tensor> {
    let width = past + n;
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| (0..width).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (n, width), &Device::Cpu)
}

impl Attention {
    /// `[b, t, d]` → `[b, heads, t, d / heads]`.
    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        x.reshape((b, t, self.heads, d / self.heads))?
            .transpose(1, 2)
    }

    /// Attention of `q` (`[b, t, d]`) over keys `kt` (`[b|1, heads, dh, s]`, transposed)
    /// and values `v` (`[b|1, heads, s, dh]`).
    fn attend(
        &self,
        q: &Tensor,
        kt: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (_, _, d) = q.dims3()?;
        let scale = 1.0 / ((d / self.heads) as f64).sqrt();
        let q = (self.heads(q)? * scale)?.contiguous()?;
        let weigh = |q: &Tensor, kt: &Tensor, v: &Tensor| {
            let mut w = q.broadcast_matmul(kt)?;
            if let Some(m) = mask {
                w = w.broadcast_add(m)?;
            }
            candle_nn::ops::softmax_last_dim(&w)?.broadcast_matmul(v)
        };
        let (b, h, t, _) = q.dims4()?;
        let mixed = if b * h * t * kt.dim(3)? > ATTENTION_WEIGHTS_AT_ONCE {
            // One head at a time: the encoder's weights are 1500 x 1500 per head, 54 MB for
            // all six, which every concurrent transcription would hold at its peak.
            let heads = (0..h)
                .map(|i| {
                    weigh(
                        &q.narrow(1, i, 1)?,
                        &kt.narrow(1, i, 1)?,
                        &v.narrow(1, i, 1)?,
                    )
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::cat(&heads, 1)?
        } else {
            weigh(&q, kt, v)?
        };
        self.out.forward(&mixed.transpose(1, 2)?.flatten_from(2)?)
    }

    /// Self-attention over the whole input (the encoder).
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let q = self.query.forward(x)?;
        let kt = self
            .heads(&self.key.forward(x)?)?
            .transpose(2, 3)?
            .contiguous()?;
        let v = self.heads(&self.value.forward(x)?)?.contiguous()?;
        self.attend(&q, &kt, &v, mask)
    }

    /// Self-attention of new tokens over the cached ones and themselves; updates the cache.
    fn forward_cached(
        &self,
        x: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let q = self.query.forward(x)?;
        let kt = self.heads(&self.key.forward(x)?)?.transpose(2, 3)?;
        let v = self.heads(&self.value.forward(x)?)?;
        let (kt, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &kt], 3)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (kt.contiguous()?, v.contiguous()?),
        };
        let out = self.attend(&q, &kt, &v, mask);
        *cache = Some((kt, v));
        out
    }
}

impl Block {
    fn mlp(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.fc1.forward(&self.mlp_ln.forward(x)?)?.gelu_erf()?;
        x + self.fc2.forward(&h)?
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let x = (x + self.attn.forward(&self.attn_ln.forward(x)?, mask)?)?;
        self.mlp(&x)
    }

    fn decode(
        &self,
        x: &Tensor,
        cross_kv: &(Tensor, Tensor),
        cache: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let x = (x + self
            .attn
            .forward_cached(&self.attn_ln.forward(x)?, cache, mask)?)?;
        let x = match &self.cross {
            Some((a, ln)) => {
                let q = a.query.forward(&ln.forward(&x)?)?;
                (&x + a.attend(&q, &cross_kv.0, &cross_kv.1, None)?)?
            }
            None => x,
        };
        self.mlp(&x)
    }
}
