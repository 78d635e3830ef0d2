// fewerbits RTL layer library: global sum pooling (FINN's GlobalAccPool), the integer sum over
// all PIXELS = H*W positions of every channel; the 1/N of an average is applied by the next
// layer's thresholds (hw/build/recipes.py).
//
// The input stream is FINN's folded NHWC order: per pixel, FOLDS = C/PE words of PE channels.
// The core keeps one PE-wide partial sum per channel fold (FOLDS words of PE*OWIDTH bits) and,
// while the last pixel streams in, emits one word of PE sums per input word: FOLDS output words
// per frame. Elements are IWIDTH-bit, sign-extended when SIGNED; sums are OWIDTH-bit (FINN's
// output datatype holds PIXELS times the input's extreme value). One input word per cycle.
module pool_acc_global #(
	int unsigned  PE,
	int unsigned  IWIDTH,
	int unsigned  OWIDTH,
	int unsigned  FOLDS,      // C / PE
	int unsigned  PIXELS,     // H * W
	bit           SIGNED,

	localparam int unsigned  F_BITS = FOLDS > 1? $clog2(FOLDS) : 1,
	localparam int unsigned  P_BITS = PIXELS > 1? $clog2(PIXELS) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*IWIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*OWIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	logic [F_BITS-1:0]  F = 0;            // channel fold of the next input word
	logic [P_BITS-1:0]  P = 0;            // pixel of the next input word
	logic [PE*OWIDTH-1:0]  Acc[FOLDS];    // partial sums per channel fold
	logic  OVld = 0;
	logic [PE*OWIDTH-1:0]  ODat;

	uwire  en = !OVld || m_tready;
	uwire  take = s_tvalid && en;
	uwire  last_f = F == F_BITS'(FOLDS-1);
	uwire  last_p = P == P_BITS'(PIXELS-1);
	assign	s_tready = en;

	uwire [PE*OWIDTH-1:0]  acc = Acc[F];
	uwire [PE*OWIDTH-1:0]  sum;
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		uwire [IWIDTH-1:0]  x = s_tdata[pe*IWIDTH +: IWIDTH];
		uwire [OWIDTH-1:0]  xe = SIGNED? OWIDTH'($signed(x)) : OWIDTH'(x);
		uwire [OWIDTH-1:0]  a = P == 0? '0 : acc[pe*OWIDTH +: OWIDTH];
		assign	sum[pe*OWIDTH +: OWIDTH] = a + xe;
	end : genPE

	always_ff @(posedge clk) begin
		if(rst) begin
			F <= 0;
			P <= 0;
			OVld <= 0;
		end
		else begin
			if(en)  OVld <= take && last_p;
			if(take) begin
				F <= last_f? 0 : F + 1;
				if(last_f)  P <= last_p? 0 : P + 1;
			end
		end
	end
	always_ff @(posedge clk) begin
		if(take) begin
			Acc[F] <= sum;
			if(last_p)  ODat <= sum;
		end
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : pool_acc_global
