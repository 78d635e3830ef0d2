// fewerbits RTL layer library: truncating average pooling (FINN's Pool, Function=QuantAvgPool)
// over the windows of FINN's depthwise sliding-window generator (SIMD == PE).
//
// The input stream holds, per output pixel and channel fold, the K2 = KH*KW window words of PE
// channels back to back (FINN's depthwise order: C/PE, KH, KW, PE); the core emits one word of
// PE window sums shifted right by SHIFT (arithmetic when SIGNED, i.e. FLOOR) per K2 input
// words, each OWIDTH bits wide. One input word per cycle.
module pool_avg #(
	int unsigned  PE,
	int unsigned  WIDTH,
	int unsigned  OWIDTH,
	int unsigned  K2,         // kernel elements per window
	int unsigned  SHIFT,
	bit           SIGNED,

	localparam int unsigned  K_BITS = K2 > 1? $clog2(K2) : 1,
	localparam int unsigned  ACC = WIDTH + K_BITS + 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*WIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*OWIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	logic [K_BITS-1:0]  K = 0;            // window element of the next input word
	logic [PE*ACC-1:0]  Sum;              // running sums of the current window
	logic  OVld = 0;
	logic [PE*OWIDTH-1:0]  ODat;

	uwire  en = !OVld || m_tready;
	uwire  take = s_tvalid && en;
	assign	s_tready = en;

	uwire [PE*ACC-1:0]  nxt;
	uwire [PE*OWIDTH-1:0]  avg;
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		uwire [WIDTH-1:0]  x = s_tdata[pe*WIDTH +: WIDTH];
		uwire [ACC-1:0]  xe = SIGNED? ACC'($signed(x)) : ACC'(x);
		uwire [ACC-1:0]  s = (K == 0? '0 : Sum[pe*ACC +: ACC]) + xe;
		assign	nxt[pe*ACC +: ACC] = s;
		assign	avg[pe*OWIDTH +: OWIDTH] = OWIDTH'($signed(s) >>> SHIFT);
	end : genPE

	always_ff @(posedge clk) begin
		if(rst) begin
			K <= 0;
			OVld <= 0;
		end
		else begin
			if(en)  OVld <= take && (K == K2-1);
			if(take)  K <= (K == K2-1)? 0 : K + 1;
		end
	end
	always_ff @(posedge clk) begin
		if(take) begin
			Sum <= nxt;
			if(K == K2-1)  ODat <= avg;
		end
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : pool_avg
