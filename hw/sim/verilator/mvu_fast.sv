// fewerbits: a simulation-only behavioural model of finn-rtllib's `mvu` (mvu/mvu.sv, the
// DSP48 lane-packed MAC array under MVAU_rtl), for the `verilator-fastmac` back end
// (hw/sim/verilator/fastmac.py). Same module name, parameters, ports and cycle timing; each
// PE's dot product is computed directly instead of packing several PEs into one wide DSP
// multiply and resolving the lanes with canaries and an adder tree per lane.
//
// Timing, as FINN's behavioural path with en = 1 (mvu_vvu_axi ties en to 1):
//   stage 1   D1  = zero || rst ? 0 : sum_s w[pe][s] * a[s]   (FINN: B1 = a or 0, AD1 = w)
//             (the multiply-adds are skipped on a zero cycle: idle or stalled input)
//   stage 2   M2  = D1                                          (FINN: M2 = B1 * AD1)
//   stage 3   P3  = M2 + (L[3] ? 0 : P3)                        (FINN: the same, per SIMD lane)
//   then PIPELINE_DEPTH - 3 register stages to p               (FINN: SIMD adder tree, Res5)
// so p holds the same sum whenever vld is high (in between, FINN's p carries partial lane
// sums; nobody reads them: mvu_vvu_axi captures p only on vld). Sums wrap at ACCU_WIDTH bits.
// tests/test_sim_fastmac.py proves the two give the same stitched outputs and cycle counts.
module mvu #(
	int unsigned  VERSION = 1,
	int unsigned  PE,
	int unsigned  SIMD,
	int unsigned  WEIGHT_WIDTH,
	int unsigned  ACTIVATION_WIDTH,
	int unsigned  ACCU_WIDTH,
	bit  SIGNED_ACTIVATIONS = 0,
	bit  NARROW_WEIGHTS   = 0,
	bit  FORCE_BEHAVIORAL = 0
)(
	input	logic  clk,
	input	logic  rst,
	input	logic  en,
	input	logic  last,
	input	logic  zero,
	input	logic signed [PE-1:0][SIMD-1:0][WEIGHT_WIDTH    -1:0]  w,
	input	logic                [SIMD-1:0][ACTIVATION_WIDTH-1:0]  a,
	output	logic  vld,
	output	logic signed [PE-1:0][ACCU_WIDTH-1:0]  p
);
	localparam int unsigned  PIPELINE_DEPTH = 3 + $clog2(SIMD) + (SIMD == 1) + 1;
	localparam int unsigned  TAIL = PIPELINE_DEPTH - 3;

/* verilator lint_off LITENDIAN */
	logic [1:PIPELINE_DEPTH] L = '0;
/* verilator lint_on LITENDIAN */
	always_ff @(posedge clk) begin
		if(rst)      L <= '0;
		else if(en)  L <= { last, L[1:PIPELINE_DEPTH-1] };
	end
	assign	vld = L[PIPELINE_DEPTH];

	// activations as signed ACTIVATION_WIDTH+1 bit values (zero-extended unless signed)
	uwire signed [ACTIVATION_WIDTH:0]  aa[SIMD];
	for(genvar  s = 0; s < SIMD; s++) begin : genAct
		assign	aa[s] = $signed({ SIGNED_ACTIVATIONS && a[s][ACTIVATION_WIDTH-1], a[s] });
	end

	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		// stage 1: this cycle's dot product (not computed at all on a zero or reset cycle)
		logic signed [ACCU_WIDTH-1:0]  D1 = 0;
		if(ACCU_WIDTH <= 32) begin : genInt
			// in C++ ints: no masking to ACCU_WIDTH after every step (the sum is the same
			// modulo 2**ACCU_WIDTH)
			always_ff @(posedge clk) begin
				if(zero || rst)  D1 <= 0;
				else if(en) begin
					automatic int  acc = 0;
					for(int unsigned  s = 0; s < SIMD; s++)  acc += int'($signed(w[pe][s])) * int'(aa[s]);
					D1 <= acc[ACCU_WIDTH-1:0];
				end
			end
		end : genInt
		else begin : genWide
			always_ff @(posedge clk) begin
				if(zero || rst)  D1 <= 0;
				else if(en) begin
					automatic logic signed [ACCU_WIDTH-1:0]  acc = 0;
					for(int unsigned  s = 0; s < SIMD; s++)  acc += $signed(w[pe][s]) * aa[s];
					D1 <= acc;
				end
			end
		end : genWide
		logic signed [ACCU_WIDTH-1:0]  M2 = 0;
		logic signed [ACCU_WIDTH-1:0]  P3 = 0;
		logic signed [ACCU_WIDTH-1:0]  T[TAIL];
		always_ff @(posedge clk) begin
			if(rst) begin
				M2 <= 0;
				P3 <= 0;
			end
			else if(en) begin
				M2 <= D1;
				P3 <= M2 + (L[3]? 0 : P3);
			end
		end
		always_ff @(posedge clk) begin
			if(en) begin
				T[0] <= P3;
				for(int unsigned  k = 1; k < TAIL; k++)  T[k] <= T[k-1];
			end
		end
		assign	p[pe] = T[TAIL-1];
	end : genPE

endmodule : mvu
