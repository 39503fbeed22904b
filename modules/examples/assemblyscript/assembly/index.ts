// A placement module for the Resource Manager in AssemblyScript (module ABI
// v1, docs/modules.md): it shows that the ABI needs no Go and no decoder
// library, only little-endian loads from linear memory.
//
// Strategy (greedy growth): the request's logical qubits are visited in
// breadth-first order of its interaction graph; from each available device
// qubit as a seed, each next logical qubit goes on the available neighbour
// of its parent's qubit with the lowest 2-qubit error. Logical qubits
// without a placed neighbour (other components, no interactions) take the
// available qubit with the lowest readout error. Each complete placement
// is costed as -ln(ESP) (2-qubit errors weighted by gate counts, readout
// errors of measured qubits; a pair left uncoupled is charged three SWAPs
// at the median coupler's error) and the best ones are returned.
//
// Build: npx asc assembly/index.ts -O3 --runtime stub --use abort= -o build/greedy.wasm
// (the stub runtime never frees: every device view allocates anew, once
// per calibration epoch; "--use abort=" leaves out the env.abort import).

// ---- ABI constants -------------------------------------------------------

const ABI_VERSION: i32 = 1;
const KIND_PLACEMENT: i32 = 1;
const STATUS_OK: i32 = 0;
const STATUS_BAD_INPUT: i32 = 1;
const STATUS_NO_DEVICE: i32 = 2;
const FLAG_USABLE: u32 = 1;
const QUBIT_AVAILABLE: u32 = 0;
const DEVICE_MAGIC: u32 = 0x56444d52; // "RMDV"
const CALL_MAGIC: u32 = 0x49434d52; // "RMCI"
const MAX_CANDIDATES: i32 = 8;

// ---- the device view, decoded once per epoch ----------------------------

let loaded = false;
let epoch: u64 = 0;
let n: i32 = 0;
let readout: usize = 0; // f64[n]: -ln(1 - readout error); +inf when unusable
let adjOff: usize = 0; // i32[n+1]: usable couplers of q at adjOff[q]..adjOff[q+1]
let adjNbr: usize = 0; // i32[]: neighbour
let adjCost: usize = 0; // f64[]: -ln(1 - 2-qubit error)
let medianCost: f64 = 0;

@inline function i32at(base: usize, i: i32): i32 { return load<i32>(base + (<usize>i << 2)); }
@inline function f64at(base: usize, i: i32): f64 { return load<f64>(base + (<usize>i << 3)); }
@inline function setI32(base: usize, i: i32, v: i32): void { store<i32>(base + (<usize>i << 2), v); }
@inline function setF64(base: usize, i: i32, v: f64): void { store<f64>(base + (<usize>i << 3), v); }

function cost(err: f64): f64 { return -Math.log(1 - err); }

let inBuf: usize = 0;
let inCap: i32 = 0;

export function rm_abi_version(): i32 { return ABI_VERSION; }
export function rm_kind(): i32 { return KIND_PLACEMENT; }

// rm_alloc returns a buffer of size bytes for the host, reused while large
// enough.
export function rm_alloc(size: i32): i32 {
  if (size > inCap) {
    inBuf = heap.alloc(<usize>size);
    inCap = size;
  }
  return <i32>inBuf;
}

export function rm_load_device(p: i32, len: i32): i32 {
  const b = <usize>p;
  if (len < 64 || load<u32>(b) != DEVICE_MAGIC || load<u32>(b, 4) != 1) return STATUS_BAD_INPUT;
  const qn = load<i32>(b, 8);
  const cm = load<i32>(b, 12);
  const qf = load<i32>(b, 24);
  const cf = load<i32>(b, 28);
  const offQFlags = <usize>load<u32>(b, 32);
  const offQFig = <usize>load<u32>(b, 36);
  const offCpl = <usize>load<u32>(b, 40);
  const offCFig = <usize>load<u32>(b, 44);
  if (qn <= 0 || cm < 0 || qf < 8 || cf < 2) return STATUS_BAD_INPUT;
  if (offCFig + <usize>cm * <usize>cf * 8 > <usize>len || offQFig + <usize>qn * <usize>qf * 8 > <usize>len) return STATUS_BAD_INPUT;
  n = qn;
  readout = heap.alloc(<usize>n << 3);
  for (let q = 0; q < n; q++) {
    const usable = (load<u32>(b + offQFlags + (<usize>q << 2)) & FLAG_USABLE) != 0;
    const ro = load<f64>(b + offQFig + <usize>q * <usize>qf * 8);
    setF64(readout, q, usable ? cost(ro) : Infinity);
  }
  // Usable couplers, both ways, in compressed rows.
  adjOff = heap.alloc((<usize>n + 1) << 2);
  for (let q = 0; q <= n; q++) setI32(adjOff, q, 0);
  let usableCount = 0;
  for (let c = 0; c < cm; c++) {
    const e = b + offCpl + <usize>c * 12;
    const a = load<i32>(e);
    const z = load<i32>(e, 4);
    if ((load<u32>(e, 8) & FLAG_USABLE) == 0 || a < 0 || z < 0 || a >= n || z >= n) continue;
    setI32(adjOff, a + 1, i32at(adjOff, a + 1) + 1);
    setI32(adjOff, z + 1, i32at(adjOff, z + 1) + 1);
    usableCount++;
  }
  for (let q = 0; q < n; q++) setI32(adjOff, q + 1, i32at(adjOff, q + 1) + i32at(adjOff, q));
  adjNbr = heap.alloc(<usize>(2 * usableCount + 1) << 2);
  adjCost = heap.alloc(<usize>(2 * usableCount + 1) << 3);
  const fill = heap.alloc(<usize>n << 2);
  for (let q = 0; q < n; q++) setI32(fill, q, i32at(adjOff, q));
  const costs = new Array<f64>(0);
  for (let c = 0; c < cm; c++) {
    const e = b + offCpl + <usize>c * 12;
    const a = load<i32>(e);
    const z = load<i32>(e, 4);
    if ((load<u32>(e, 8) & FLAG_USABLE) == 0 || a < 0 || z < 0 || a >= n || z >= n) continue;
    const k = cost(load<f64>(b + offCFig + <usize>c * <usize>cf * 8));
    costs.push(k);
    let i = i32at(fill, a);
    setI32(adjNbr, i, z);
    setF64(adjCost, i, k);
    setI32(fill, a, i + 1);
    i = i32at(fill, z);
    setI32(adjNbr, i, a);
    setF64(adjCost, i, k);
    setI32(fill, z, i + 1);
  }
  costs.sort();
  medianCost = costs.length > 0 ? costs[costs.length >> 1] : 0;
  epoch = load<u64>(b, 16);
  loaded = true;
  return STATUS_OK;
}

// ---- one call ------------------------------------------------------------

// Scratch, grown as needed.
let scratchCap: i32 = 0;
let order: usize = 0; // i32[k]: logical qubits in visiting order
let parent: usize = 0; // i32[k]: placed logical neighbour, -1 for roots
let phi: usize = 0; // i32[k]: device qubit of each logical qubit
let used: usize = 0; // i32[n]: stamp of the seed that used the qubit
let seen: usize = 0; // i32[k]
let outBuf: usize = 0;
let outCap: usize = 0;
let best: usize = 0; // i32[MAX_CANDIDATES * k] mappings, by cost
let bestCost: usize = 0; // f64[MAX_CANDIDATES]
let bestRouted: usize = 0; // i32[MAX_CANDIDATES]

function grow(k: i32): void {
  if (k <= scratchCap && n <= scratchCap) return;
  const c = max(k, n);
  order = heap.alloc(<usize>c << 2);
  parent = heap.alloc(<usize>c << 2);
  phi = heap.alloc(<usize>c << 2);
  used = heap.alloc(<usize>c << 2);
  seen = heap.alloc(<usize>c << 2);
  best = heap.alloc(<usize>(c * MAX_CANDIDATES) << 2);
  bestCost = heap.alloc(<usize>MAX_CANDIDATES << 3);
  bestRouted = heap.alloc(<usize>MAX_CANDIDATES << 2);
  for (let q = 0; q < c; q++) setI32(used, q, -1);
  scratchCap = c;
}

export function rm_place(p: i32, len: i32): i64 {
  const b = <usize>p;
  if (!loaded) return -<i64>STATUS_NO_DEVICE;
  if (len < 128 || load<u32>(b) != CALL_MAGIC || load<u32>(b, 4) != 1) return -<i64>STATUS_BAD_INPUT;
  if (load<u64>(b, 8) != epoch || load<i32>(b, 16) != n) return -<i64>STATUS_NO_DEVICE;
  const k = load<i32>(b, 20);
  const noRouting = (load<u32>(b, 44) & 1) != 0;
  const maxCands = min(load<i32>(b, 64), MAX_CANDIDATES);
  const ne = load<i32>(b, 68);
  const edges = b + <usize>load<u32>(b, 72);
  const measured = b + <usize>load<u32>(b, 76);
  const status = b + <usize>load<u32>(b, 84);
  if (k <= 0 || k > n || ne < 0) return -<i64>STATUS_BAD_INPUT;
  grow(k);

  // Breadth-first order over the interaction graph.
  for (let v = 0; v < k; v++) setI32(seen, v, 0);
  let head = 0;
  let tail = 0;
  for (let r = 0; r < k; r++) {
    if (i32at(seen, r) != 0) continue;
    setI32(seen, r, 1);
    setI32(order, tail, r);
    setI32(parent, r, -1);
    tail++;
    while (head < tail) {
      const u = i32at(order, head++);
      for (let e = 0; e < ne; e++) {
        const a = load<i32>(edges + <usize>e * 12);
        const z = load<i32>(edges + <usize>e * 12, 4);
        const w = a == u ? z : z == u ? a : -1;
        if (w >= 0 && i32at(seen, w) == 0) {
          setI32(seen, w, 1);
          setI32(parent, w, u);
          setI32(order, tail++, w);
        }
      }
    }
  }

  let found = 0;
  for (let seed = 0; seed < n; seed++) {
    if (load<u32>(status + (<usize>seed << 2)) != QUBIT_AVAILABLE) continue;
    let ok = true;
    for (let t = 0; t < k && ok; t++) {
      const v = i32at(order, t);
      const par = i32at(parent, v);
      let q = -1;
      if (t == 0) {
        q = seed;
      } else if (par >= 0) {
        // Cheapest free neighbour of the parent's qubit.
        const pq = i32at(phi, par);
        let bc = Infinity;
        for (let i = i32at(adjOff, pq); i < i32at(adjOff, pq + 1); i++) {
          const w = i32at(adjNbr, i);
          if (i32at(used, w) == seed || load<u32>(status + (<usize>w << 2)) != QUBIT_AVAILABLE) continue;
          if (f64at(adjCost, i) < bc) {
            bc = f64at(adjCost, i);
            q = w;
          }
        }
      } else {
        // Another component: the best free readout.
        let bc = Infinity;
        for (let w = 0; w < n; w++) {
          if (i32at(used, w) == seed || load<u32>(status + (<usize>w << 2)) != QUBIT_AVAILABLE) continue;
          if (f64at(readout, w) < bc) {
            bc = f64at(readout, w);
            q = w;
          }
        }
      }
      if (q < 0) {
        ok = false;
        break;
      }
      setI32(phi, v, q);
      setI32(used, q, seed);
    }
    if (!ok) {
      for (let q = 0; q < n; q++) if (i32at(used, q) == seed) setI32(used, q, -1);
      continue;
    }
    // Cost of the placement.
    let c: f64 = 0;
    let routed = 0;
    for (let v = 0; v < k; v++) if (load<u32>(measured + (<usize>v << 2)) != 0) c += f64at(readout, i32at(phi, v));
    for (let e = 0; e < ne; e++) {
      const a = i32at(phi, load<i32>(edges + <usize>e * 12));
      const z = i32at(phi, load<i32>(edges + <usize>e * 12, 4));
      const cnt = <f64>load<i32>(edges + <usize>e * 12, 8);
      let direct = -1.0;
      for (let i = i32at(adjOff, a); i < i32at(adjOff, a + 1); i++) {
        if (i32at(adjNbr, i) == z) direct = f64at(adjCost, i);
      }
      if (direct >= 0) {
        c += cnt * direct;
      } else {
        routed = 1;
        c += cnt * medianCost + 9 * medianCost;
      }
    }
    for (let q = 0; q < n; q++) if (i32at(used, q) == seed) setI32(used, q, -1);
    if (routed != 0 && noRouting) continue;
    // Keep the maxCands cheapest (insertion into a sorted list).
    let pos = found;
    while (pos > 0 && f64at(bestCost, pos - 1) > c) pos--;
    if (pos >= maxCands) continue;
    const last = min(found, maxCands - 1);
    for (let j = last; j > pos; j--) {
      setF64(bestCost, j, f64at(bestCost, j - 1));
      setI32(bestRouted, j, i32at(bestRouted, j - 1));
      memory.copy(best + (<usize>(j * k) << 2), best + (<usize>((j - 1) * k) << 2), <usize>k << 2);
    }
    setF64(bestCost, pos, c);
    setI32(bestRouted, pos, routed);
    memory.copy(best + (<usize>(pos * k) << 2), phi, <usize>k << 2);
    if (found < maxCands) found++;
  }

  // Answer: u32 count, u32 k, f64 cost[count], u32 flags[count], u32 mapping[count*k].
  const size = <usize>(8 + 12 * found + 4 * found * k);
  if (size > outCap) {
    outBuf = heap.alloc(size);
    outCap = size;
  }
  store<i32>(outBuf, found);
  store<i32>(outBuf, k, 4);
  for (let j = 0; j < found; j++) {
    store<f64>(outBuf + 8 + (<usize>j << 3), f64at(bestCost, j));
    store<i32>(outBuf + 8 + (<usize>found << 3) + (<usize>j << 2), i32at(bestRouted, j));
  }
  memory.copy(outBuf + 8 + <usize>found * 12, best, <usize>(found * k) << 2);
  return (<i64>outBuf << 32) | <i64>size;
}
