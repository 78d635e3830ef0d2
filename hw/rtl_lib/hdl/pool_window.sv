// fewerbits RTL layer library: pooling over the windows of FINN's depthwise sliding-window
// generator (ConvolutionInputGenerator, depthwise=1, SIMD == PE), for FINN's Pool.
//
// The input stream holds, per output pixel and channel fold, the K2 = KH*KW window words of PE
// channels back to back (FINN's depthwise order: C/PE, KH, KW, PE); the core emits one word of
// PE channel results per K2 input words, each OWIDTH bits wide. One input word per cycle.
// The reduction is FUNCTION:
//   "MaxPool"      the window maximum (OWIDTH == WIDTH), compared signed when SIGNED (BIPOLAR
//                  codes compare unsigned: code 1 = +1 > code 0 = -1);
//   "QuantAvgPool" the window sum shifted right by SHIFT (arithmetic when SIGNED: FLOOR),
//                  FINN's truncating average (Brevitas' TruncAvgPool2d).
module pool_window #(
	parameter     FUNCTION = "MaxPool",
	int unsigned  PE,
	int unsigned  WIDTH,
	int unsigned  OWIDTH,
	int unsigned  K2,         // kernel elements per window
	int unsigned  SHIFT = 0,  // QuantAvgPool only
	bit           SIGNED,

	localparam bit  IS_MAX = FUNCTION == "MaxPool",
	localparam int unsigned  K_BITS = K2 > 1? $clog2(K2) : 1,
	localparam int unsigned  ACC = IS_MAX? WIDTH : WIDTH + K_BITS + 1
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

	initial begin
		if(FUNCTION != "MaxPool" && FUNCTION != "QuantAvgPool")  $error("FUNCTION %s", FUNCTION);
		if(IS_MAX && OWIDTH != WIDTH)  $error("MaxPool: OWIDTH=%0d != WIDTH=%0d", OWIDTH, WIDTH);
	end

	logic [K_BITS-1:0]  K = 0;            // window element of the next input word
	logic [PE*ACC-1:0]  Red;              // running reductions of the current window
	logic  OVld = 0;
	logic [PE*OWIDTH-1:0]  ODat;

	uwire  en = !OVld || m_tready;
	uwire  take = s_tvalid && en;
	assign	s_tready = en;

	uwire [PE*ACC-1:0]  nxt;
	uwire [PE*OWIDTH-1:0]  res;
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		uwire [WIDTH-1:0]  x = s_tdata[pe*WIDTH +: WIDTH];
		uwire [ACC-1:0]  r = Red[pe*ACC +: ACC];
		uwire [ACC-1:0]  n;
		if(IS_MAX) begin : genMax
			uwire  greater = SIGNED? $signed(x) > $signed(r) : x > r;
			assign	n = (K == 0) || greater? x : r;
			assign	res[pe*OWIDTH +: OWIDTH] = OWIDTH'(n);
		end : genMax
		else begin : genSum
			uwire [ACC-1:0]  xe = SIGNED? ACC'($signed(x)) : ACC'(x);
			assign	n = (K == 0? '0 : r) + xe;
			assign	res[pe*OWIDTH +: OWIDTH] = OWIDTH'($signed(n) >>> SHIFT);
		end : genSum
		assign	nxt[pe*ACC +: ACC] = n;
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
			Red <= nxt;
			if(K == K2-1)  ODat <= res;
		end
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : pool_window
