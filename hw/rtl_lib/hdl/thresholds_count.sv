// fewerbits RTL layer library: embedded thresholds of an MVAU/VVAU-like layer.
//
// For each of PE lanes, the output element ACT_VAL + #{ t : acc >= T[nf][pe][t] } of the
// lane's ACC_WIDTH-bit sum (compared signed when SIGNED), with the thresholds of row fold nf.
// T is a ROM of NF*PE*N_THRESHOLDS THRESHOLD_WIDTH-bit entries read from THRESHOLD_FILE,
// entry (nf*PE + pe)*N_THRESHOLDS + t (FINN's threshold memory: PE-interleaved channels).
// Combinational: the caller registers the result.
module thresholds_count #(
	int unsigned  PE,
	int unsigned  NF,
	int unsigned  N_THRESHOLDS,
	int unsigned  ACC_WIDTH,
	int unsigned  THRESHOLD_WIDTH,
	int unsigned  OUT_WIDTH,
	int           ACT_VAL,
	bit           SIGNED,
	parameter     THRESHOLD_FILE = "",

	localparam int unsigned  NF_BITS = NF > 1? $clog2(NF) : 1
)(
	input	logic [NF_BITS-1:0]  nf,
	input	logic [PE*ACC_WIDTH-1:0]  acc,
	output	logic [PE*OUT_WIDTH-1:0]  act
);

	logic [THRESHOLD_WIDTH-1:0]  Thr[NF*PE*N_THRESHOLDS];
	initial $readmemh(THRESHOLD_FILE, Thr);

	function automatic logic reaches(input logic [ACC_WIDTH-1:0] a, input logic [THRESHOLD_WIDTH-1:0] t);
		return  SIGNED? $signed(a) >= $signed(t) : a >= t;
	endfunction : reaches

	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		always_comb begin
			automatic int  cnt = ACT_VAL;
			for(int unsigned  t = 0; t < N_THRESHOLDS; t++) begin
				if(reaches(acc[pe*ACC_WIDTH +: ACC_WIDTH], Thr[(nf*PE + pe)*N_THRESHOLDS + t]))  cnt++;
			end
			act[pe*OUT_WIDTH +: OUT_WIDTH] = OUT_WIDTH'(cnt);
		end
	end : genPE

endmodule : thresholds_count
