//! Nodes and gang placement: a job's GPUs all of one type, on as few nodes as possible (one
//! node when one has room; else the fullest nodes first, so that large holes stay whole).

/// A node: `gpus` devices of `gpu_type`, each with `gpu_memory_gib`. A CPU-only machine is a
/// node of type `cpu` whose "GPUs" are its training slots.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub gpu_type: String,
    pub gpus: u32,
    pub gpu_memory_gib: f64,
}

/// GPUs of one node given to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub node: String,
    pub gpus: u32,
}

/// The nodes and how many GPUs of each are free.
#[derive(Debug, Clone)]
pub struct Cluster {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Runs may not span nodes (an executor that starts each run on one node).
    one_node: bool,
}

/// What a job needs: `gpus` devices of `gpu_type` (any type when None) with at least
/// `gpu_memory_gib` each.
#[derive(Debug, Clone, PartialEq)]
pub struct Need<'a> {
    pub gpu_type: Option<&'a str>,
    pub gpus: u32,
    pub gpu_memory_gib: f64,
}

impl Cluster {
    pub fn new(nodes: Vec<Node>) -> Cluster {
        let free = nodes.iter().map(|n| n.gpus).collect();
        Cluster { nodes, free, one_node: false }
    }

    /// The same cluster for an executor that starts each run on one node (Ray): no gang spans
    /// nodes, and a request larger than the largest suitable node is impossible.
    pub fn one_node_only(mut self) -> Cluster {
        self.one_node = true;
        self
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn total_gpus(&self) -> u64 {
        self.nodes.iter().map(|n| u64::from(n.gpus)).sum()
    }

    pub fn free_gpus(&self) -> u64 {
        self.free.iter().map(|&f| u64::from(f)).sum()
    }

    /// Why no placement could ever satisfy `need`, even on an empty cluster (a type that does
    /// not exist, more GPUs of it than the cluster has, too little memory per GPU).
    pub fn impossible(&self, need: &Need) -> Option<String> {
        if need.gpus == 0 {
            return Some("a job needs at least one GPU (or CPU slot)".into());
        }
        // A gang is of one type: the most GPUs of any one suitable type.
        let mut by_type: std::collections::BTreeMap<&str, u64> = Default::default();
        for n in self.nodes.iter().filter(|n| self.suits_need(n, need)) {
            *by_type.entry(n.gpu_type.as_str()).or_default() += u64::from(n.gpus);
        }
        let fitting = by_type.values().copied().max().unwrap_or(0);
        let largest_node = self.nodes.iter().filter(|n| self.suits_need(n, need)).map(|n| u64::from(n.gpus)).max().unwrap_or(0);
        if self.one_node && fitting >= u64::from(need.gpus) && largest_node < u64::from(need.gpus) {
            return Some(format!(
                "{} GPUs requested; a run here stays on one node, and the largest suitable node has {largest_node}",
                need.gpus
            ));
        }
        if fitting >= u64::from(need.gpus) {
            return None;
        }
        let kind = need.gpu_type.unwrap_or("any type");
        let types: std::collections::BTreeSet<&str> = self.nodes.iter().map(|n| n.gpu_type.as_str()).collect();
        if need.gpu_type.is_some_and(|t| !types.contains(t)) {
            return Some(format!("no node has GPUs of type {kind} (types here: {})", types.into_iter().collect::<Vec<_>>().join(", ")));
        }
        Some(format!("{} GPUs of {kind} with {} GiB each requested; the cluster has {fitting} such GPUs", need.gpus, need.gpu_memory_gib))
    }

    pub(crate) fn suits_need(&self, node: &Node, need: &Need) -> bool {
        need.gpu_type.is_none_or(|t| t == node.gpu_type) && node.gpu_memory_gib + 1e-9 >= need.gpu_memory_gib
    }

    /// A placement for `need` on the free GPUs, or None. All GPUs of one type: one node when
    /// one has room (the one with the least room that fits, keeping big holes for big jobs),
    /// else the nodes with the most free GPUs first.
    pub fn place(&self, need: &Need) -> Option<Vec<Allocation>> {
        self.place_with(need, &self.free)
    }

    /// [`Cluster::place`] on a hypothetical `free` vector (one entry per node, in order).
    pub(crate) fn place_with(&self, need: &Need, free: &[u32]) -> Option<Vec<Allocation>> {
        let mut types: Vec<&str> = self.nodes.iter().filter(|n| self.suits_need(n, need)).map(|n| n.gpu_type.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        let mut best: Option<Vec<Allocation>> = None;
        for t in types {
            let candidates: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].gpu_type == t && self.suits_need(&self.nodes[i], need) && free[i] > 0)
                .collect();
            if let Some(i) = candidates.iter().copied().filter(|&i| free[i] >= need.gpus).min_by_key(|&i| (free[i], i)) {
                let one = vec![Allocation { node: self.nodes[i].id.clone(), gpus: need.gpus }];
                if best.as_ref().is_none_or(|b| b.len() > 1) {
                    best = Some(one);
                }
                continue;
            }
            if self.one_node {
                continue;
            }
            let mut by_room = candidates.clone();
            by_room.sort_by_key(|&i| (std::cmp::Reverse(free[i]), i));
            let mut left = need.gpus;
            let mut gang = Vec::new();
            for i in by_room {
                let take = free[i].min(left);
                gang.push(Allocation { node: self.nodes[i].id.clone(), gpus: take });
                left -= take;
                if left == 0 {
                    break;
                }
            }
            if left == 0 && best.as_ref().is_none_or(|b| b.len() > gang.len()) {
                best = Some(gang);
            }
        }
        best
    }

    /// Whether `need` could be placed if `extra` (allocations of jobs that would stop) were free.
    pub fn would_fit(&self, need: &Need, extra: &[Allocation]) -> bool {
        let mut free = self.free.clone();
        self.apply(&mut free, extra, 1);
        self.place_with(need, &free).is_some()
    }

    /// The free GPUs per node, in node order (to plan on a copy).
    pub(crate) fn free_vector(&self) -> Vec<u32> {
        self.free.clone()
    }

    /// Adds (`sign` 1) or removes (`sign` -1) a placement's GPUs in a free vector.
    pub(crate) fn apply(&self, free: &mut [u32], placement: &[Allocation], sign: i32) {
        for a in placement {
            if let Some(i) = self.index(&a.node) {
                free[i] = if sign > 0 { free[i] + a.gpus } else { free[i].saturating_sub(a.gpus) };
            }
        }
    }

    /// Removes a placement's GPUs from a free vector when all of them are there; false (and
    /// the vector unchanged) when a node is unknown or lacks them.
    pub(crate) fn apply_checked(&self, free: &mut [u32], placement: &[Allocation]) -> bool {
        let mut after = free.to_vec();
        for a in placement {
            match self.index(&a.node) {
                Some(i) if after[i] >= a.gpus => after[i] -= a.gpus,
                _ => return false,
            }
        }
        free.copy_from_slice(&after);
        true
    }

    fn index(&self, node: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == node)
    }

    /// Takes the GPUs of a placement. Panics if they are not free: the policy only allocates
    /// what `place` found.
    pub fn take(&mut self, placement: &[Allocation]) {
        for a in placement {
            let i = self.index(&a.node).expect("placement names a node of the cluster");
            assert!(self.free[i] >= a.gpus, "over-allocation of node {}", a.node);
            self.free[i] -= a.gpus;
        }
    }

    /// Gives back the GPUs of a placement.
    pub fn give_back(&mut self, placement: &[Allocation]) {
        for a in placement {
            let i = self.index(&a.node).expect("placement names a node of the cluster");
            self.free[i] += a.gpus;
            assert!(self.free[i] <= self.nodes[i].gpus, "node {} given back more than it has", a.node);
        }
    }

    /// Free GPUs per node, as (node, free).
    pub fn free_by_node(&self) -> impl Iterator<Item = (&Node, u32)> {
        self.nodes.iter().zip(self.free.iter().copied())
    }
}
