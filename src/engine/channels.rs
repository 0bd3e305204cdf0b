//! Mapping the file's channels onto the device's. Decoder thread only.
//!
//! - Equal counts: copied as they are.
//! - Mono: sent to the first two device channels (both sides), the rest silent.
//! - More channels than the device has: downmixed with the ITU-R BS.775 coefficients
//!   (centre and surrounds at −3 dB, LFE dropped), then scaled so that no output can exceed
//!   full scale, as ffmpeg's default matrix does.
//! - Fewer channels than the device has: each goes to its own speaker position, the rest silent.

/// WAVE/symphonia position bits in the order a file without a mask implies.
const FL: u32 = 1 << 0;
const FR: u32 = 1 << 1;
const FC: u32 = 1 << 2;
const LFE: u32 = 1 << 3;
const BL: u32 = 1 << 4;
const BR: u32 = 1 << 5;
const FLC: u32 = 1 << 6;
const FRC: u32 = 1 << 7;
const BC: u32 = 1 << 8;
const SL: u32 = 1 << 9;
const SR: u32 = 1 << 10;

/// −3 dB, the BS.775 weight for centre and surround channels folded into the fronts.
const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The positions of `count` channels when the file gives no mask (WAVE default order).
fn default_positions(count: usize) -> Vec<u32> {
    match count {
        1 => vec![FC],
        2 => vec![FL, FR],
        3 => vec![FL, FR, FC],
        4 => vec![FL, FR, BL, BR],
        5 => vec![FL, FR, FC, BL, BR],
        6 => vec![FL, FR, FC, LFE, BL, BR],
        7 => vec![FL, FR, FC, LFE, BC, SL, SR],
        8 => vec![FL, FR, FC, LFE, BL, BR, SL, SR],
        n => (0..n).map(|i| 1u32 << i.min(31)).collect(),
    }
}

fn positions_from_mask(mask: u64, count: usize) -> Vec<u32> {
    let bits: Vec<u32> = (0..32)
        .map(|i| 1u32 << i)
        .filter(|b| mask & (*b as u64) != 0)
        .collect();
    if bits.len() == count {
        bits
    } else {
        default_positions(count)
    }
}

/// (weight into left, weight into right) for one source position in a stereo downmix.
fn stereo_weights(pos: u32) -> (f32, f32) {
    match pos {
        FL => (1.0, 0.0),
        FR => (0.0, 1.0),
        FC => (MINUS_3DB, MINUS_3DB),
        LFE => (0.0, 0.0),
        BL | SL => (MINUS_3DB, 0.0),
        BR | SR => (0.0, MINUS_3DB),
        FLC => (1.0, 0.0),
        FRC => (0.0, 1.0),
        BC => (0.5, 0.5),
        _ => (0.0, 0.0),
    }
}

/// A fixed mixing matrix from `input` channels to `output` channels.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMap {
    input: usize,
    output: usize,
    /// `output × input`, row-major. `None` means identity.
    matrix: Option<Vec<f32>>,
}

impl ChannelMap {
    /// Build the map for a file with `input` channels (and optional position mask) feeding a
    /// device with `output` channels.
    pub fn new(input: usize, mask: Option<u64>, output: usize) -> ChannelMap {
        assert!(input > 0 && output > 0, "channel counts must be positive");
        if input == output {
            return ChannelMap {
                input,
                output,
                matrix: None,
            };
        }
        let mut m = vec![0.0f32; output * input];
        let set = |m: &mut Vec<f32>, o: usize, i: usize, w: f32| m[o * input + i] = w;
        if input == 1 {
            if output == 1 {
                set(&mut m, 0, 0, 1.0);
            } else {
                set(&mut m, 0, 0, 1.0);
                set(&mut m, 1, 0, 1.0);
            }
        } else if input > output {
            let positions = match mask {
                Some(mask) => positions_from_mask(mask, input),
                None => default_positions(input),
            };
            // Stereo downmix first; other device layouts take it on their first two channels.
            let mut rows = [vec![0.0f32; input], vec![0.0f32; input]];
            for (i, pos) in positions.iter().enumerate() {
                let (l, r) = stereo_weights(*pos);
                rows[0][i] = l;
                rows[1][i] = r;
            }
            // Unknown positions (a discrete 16-channel file, say) must not vanish: spread
            // them evenly instead.
            let known: f32 = rows[0].iter().chain(rows[1].iter()).sum();
            if known == 0.0 {
                for row in rows.iter_mut() {
                    row.iter_mut().for_each(|w| *w = 1.0);
                }
            }
            let [left, right] = &rows;
            for (i, (l, r)) in left.iter().zip(right).enumerate() {
                if output == 1 {
                    set(&mut m, 0, i, (l + r) * 0.5);
                } else {
                    set(&mut m, 0, i, *l);
                    set(&mut m, 1, i, *r);
                }
            }
            // Normalise so the loudest row sums to 1: the downmix can never clip.
            let max_row = (0..output)
                .map(|o| {
                    m[o * input..(o + 1) * input]
                        .iter()
                        .map(|w| w.abs())
                        .sum::<f32>()
                })
                .fold(0.0f32, f32::max);
            if max_row > 1.0 {
                m.iter_mut().for_each(|w| *w /= max_row);
            }
        } else {
            // Fewer channels than the device: keep them on the first positions.
            for i in 0..input {
                set(&mut m, i, i, 1.0);
            }
        }
        ChannelMap {
            input,
            output,
            matrix: Some(m),
        }
    }

    pub fn input_channels(&self) -> usize {
        self.input
    }

    pub fn output_channels(&self) -> usize {
        self.output
    }

    pub fn is_identity(&self) -> bool {
        self.matrix.is_none()
    }

    /// Map interleaved `src` (input channels) onto `dst`, which is cleared and refilled.
    pub fn apply(&self, src: &[f32], dst: &mut Vec<f32>) {
        let frames = src.len() / self.input;
        dst.clear();
        match &self.matrix {
            None => dst.extend_from_slice(&src[..frames * self.input]),
            Some(m) => {
                dst.resize(frames * self.output, 0.0);
                for (out_frame, in_frame) in dst
                    .chunks_exact_mut(self.output)
                    .zip(src.chunks_exact(self.input))
                {
                    for (o, out) in out_frame.iter_mut().enumerate() {
                        let row = &m[o * self.input..(o + 1) * self.input];
                        *out = row.iter().zip(in_frame).map(|(w, x)| w * x).sum();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_goes_to_both_sides() {
        let map = ChannelMap::new(1, None, 2);
        let mut out = Vec::new();
        map.apply(&[0.5, -0.25], &mut out);
        assert_eq!(out, vec![0.5, 0.5, -0.25, -0.25]);
    }

    #[test]
    fn five_one_downmix_keeps_fronts_apart_and_never_clips() {
        let map = ChannelMap::new(6, None, 2);
        let mut out = Vec::new();
        // Only front-left sounds: it must come out on the left only.
        map.apply(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut out);
        assert!(out[0] > 0.0 && out[1] == 0.0);
        // Everything at full scale must not exceed full scale.
        map.apply(&[1.0; 6], &mut out);
        assert!(out.iter().all(|s| *s <= 1.0 + 1e-6), "{out:?}");
        // LFE is dropped.
        map.apply(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &mut out);
        assert_eq!(out, vec![0.0, 0.0]);
    }

    #[test]
    fn stereo_to_mono_averages() {
        let map = ChannelMap::new(2, None, 1);
        let mut out = Vec::new();
        map.apply(&[1.0, 0.0], &mut out);
        assert!((out[0] - 0.5).abs() < 1e-6);
    }
}
