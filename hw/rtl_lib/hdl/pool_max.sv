// fewerbits RTL layer library: max-pooling over the windows of FINN's depthwise sliding-window
// generator (ConvolutionInputGenerator, depthwise=1, SIMD == PE).
//
// The input stream holds, per output pixel and channel fold, the K2 = KH*KW window words of PE
// channels back to back (FINN's depthwise order: C/PE, KH, KW, PE); the core emits one word of
// PE channel maxima per K2 input words. Elements are WIDTH-bit, compared signed or unsigned
// (BIPOLAR: code 1 = +1 > code 0 = -1, unsigned). One input word per cycle.
module pool_max #(
	int unsigned  PE,
	int unsigned  WIDTH,
	int unsigned  K2,         // kernel elements per window
	bit           SIGNED,

	localparam int unsigned  K_BITS = K2 > 1? $clog2(K2) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*WIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	logic [K_BITS-1:0]  K = 0;            // window element of the next input word
	logic [PE*WIDTH-1:0]  Max;            // running maxima of the current window
	logic  OVld = 0;
	logic [PE*WIDTH-1:0]  ODat;

	uwire  en = !OVld || m_tready;
	uwire  take = s_tvalid && en;
	assign	s_tready = en;

	function automatic logic greater(input logic [WIDTH-1:0] a, input logic [WIDTH-1:0] b);
		return  SIGNED? $signed(a) > $signed(b) : a > b;
	endfunction : greater

	uwire [PE*WIDTH-1:0]  nxt;
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		uwire [WIDTH-1:0]  x = s_tdata[pe*WIDTH +: WIDTH];
		uwire [WIDTH-1:0]  m = Max[pe*WIDTH +: WIDTH];
		assign	nxt[pe*WIDTH +: WIDTH] = (K == 0) || greater(x, m)? x : m;
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
			Max <= nxt;
			if(K == K2-1)  ODat <= nxt;
		end
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : pool_max
