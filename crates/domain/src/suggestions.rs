//! Simple advice on a job from what it asked for and what it measured: a cheaper device by
//! QLoRA, GPUs left idle, memory left unused.

use serde::Serialize;

/// One piece of advice: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// `cheaper_with_qlora`, `low_gpu_utilization` or `memory_unused`.
    pub code: &'static str,
    pub message: String,
}

/// A device the job would fit on with QLoRA, and its cost (from the estimate).
#[derive(Debug, Clone, PartialEq)]
pub struct QloraOption {
    pub device: String,
    pub memory_gib: f64,
    pub cost: f64,
}

/// What advice is drawn from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The method it trained with (`lora`, `qlora`, `full`, …).
    pub method: String,
    pub micro_batch_size: u32,
    /// The device it was estimated for and that estimate's cost.
    pub device: String,
    pub cost: f64,
    /// The cheapest GPU type the job fits on with QLoRA, if any.
    pub cheapest_qlora: Option<QloraOption>,
    /// GPU utilization samples (percent) from its system events.
    pub gpu_utilization: Vec<f64>,
    /// Peak memory used (GPU memory on CUDA, the process's RSS on the CPU) and the device's memory.
    pub peak_memory_bytes: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// Advice, most valuable first. Each rule needs enough evidence: three utilization samples, a
/// saving of at least a fifth and at least 0.01.
pub fn suggest(o: &Observed) -> Vec<Suggestion> {
    let mut out = Vec::new();
    if o.method != "qlora" {
        if let Some(q) = o.cheapest_qlora.as_ref().filter(|q| q.cost < 0.8 * o.cost && o.cost - q.cost >= 0.01) {
            out.push(Suggestion {
                code: "cheaper_with_qlora",
                message: format!(
                    "this job fits QLoRA on a {} (about {:.1} GiB per device) for about {:.2} instead of {:.2} on {}",
                    q.device, q.memory_gib, q.cost, o.cost, o.device
                ),
            });
        }
    }
    if o.gpu_utilization.len() >= 3 {
        let mean = o.gpu_utilization.iter().sum::<f64>() / o.gpu_utilization.len() as f64;
        if mean < 50.0 {
            out.push(Suggestion {
                code: "low_gpu_utilization",
                message: format!(
                    "GPU utilization averaged {mean:.0}%: raise micro_batch_size (it was {}) or turn packing on",
                    o.micro_batch_size
                ),
            });
        }
    }
    if let (Some(peak), Some(total)) = (o.peak_memory_bytes, o.memory_bytes.filter(|t| *t > 0)) {
        let share = peak as f64 / total as f64;
        if share < 0.3 {
            out.push(Suggestion {
                code: "memory_unused",
                message: format!(
                    "the job used at most {:.1} GiB of the device's {:.1} GiB ({:.0}%): a larger micro_batch_size (it was {}) trains faster, or a smaller device costs less",
                    peak as f64 / f64::from(1u32 << 30),
                    total as f64 / f64::from(1u32 << 30),
                    share * 100.0,
                    o.micro_batch_size
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> Observed {
        Observed { method: "lora".into(), micro_batch_size: 2, device: "A100-80GB".into(), cost: 10.0, ..Observed::default() }
    }

    #[test]
    fn a_cheaper_qlora_device_is_suggested_only_when_it_saves_a_fifth_and_not_to_qlora_jobs() {
        let mut o = observed();
        o.cheapest_qlora = Some(QloraOption { device: "L4".into(), memory_gib: 9.5, cost: 3.0 });
        let s = suggest(&o);
        assert_eq!(s[0].code, "cheaper_with_qlora");
        assert_eq!(s[0].message, "this job fits QLoRA on a L4 (about 9.5 GiB per device) for about 3.00 instead of 10.00 on A100-80GB");
        o.cheapest_qlora = Some(QloraOption { device: "L4".into(), memory_gib: 9.5, cost: 8.5 });
        assert!(suggest(&o).is_empty());
        o.cost = 0.001;
        o.cheapest_qlora = Some(QloraOption { device: "L4".into(), memory_gib: 9.5, cost: 0.0001 });
        assert!(suggest(&o).is_empty(), "a saving under a cent is not worth a word");
        o.cost = 10.0;
        o.method = "qlora".into();
        o.cheapest_qlora = Some(QloraOption { device: "L4".into(), memory_gib: 9.5, cost: 1.0 });
        assert!(suggest(&o).is_empty());
    }

    #[test]
    fn idle_gpus_and_unused_memory_need_evidence() {
        let mut o = observed();
        o.gpu_utilization = vec![20.0, 40.0];
        assert!(suggest(&o).is_empty(), "two samples are not enough");
        o.gpu_utilization.push(30.0);
        assert_eq!(suggest(&o)[0].message, "GPU utilization averaged 30%: raise micro_batch_size (it was 2) or turn packing on");
        o.gpu_utilization = vec![90.0; 5];
        o.peak_memory_bytes = Some(2 << 30);
        o.memory_bytes = Some(80 << 30);
        let s = suggest(&o);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].code, "memory_unused");
        assert!(s[0].message.starts_with("the job used at most 2.0 GiB of the device's 80.0 GiB (2%)"), "{}", s[0].message);
        o.peak_memory_bytes = Some(40 << 30);
        assert!(suggest(&o).is_empty());
    }
}
