// fewerbits RTL layer library: elementwise add of two streams (FINN's ElementwiseAdd with both
// operands streamed, the join of a residual block).
//
// Per word PE lanes: out = a + b, each operand sign- or zero-extended to the output width
// (the sum's range, chosen by FINN's datatype inference; it never overflows). A word is taken
// from both inputs in the same cycle, once both are valid and the output register is free;
// one output word per cycle, one cycle latency.
module add_streams #(
	int unsigned  PE,
	int unsigned  A_WIDTH,
	bit           A_SIGNED,
	int unsigned  B_WIDTH,
	bit           B_SIGNED,
	int unsigned  O_WIDTH
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*A_WIDTH-1:0]  a_tdata,
	input	logic  a_tvalid,
	output	logic  a_tready,

	input	logic [PE*B_WIDTH-1:0]  b_tdata,
	input	logic  b_tvalid,
	output	logic  b_tready,

	output	logic [PE*O_WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	logic  OVld = 0;
	logic [PE*O_WIDTH-1:0]  ODat;

	uwire  en = !OVld || m_tready;
	uwire  take = en && a_tvalid && b_tvalid;
	assign	a_tready = en && b_tvalid;
	assign	b_tready = en && a_tvalid;

	uwire [PE*O_WIDTH-1:0]  sum;
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		uwire [A_WIDTH-1:0]  a = a_tdata[pe*A_WIDTH +: A_WIDTH];
		uwire [B_WIDTH-1:0]  b = b_tdata[pe*B_WIDTH +: B_WIDTH];
		uwire [O_WIDTH-1:0]  ax = A_SIGNED? O_WIDTH'($signed(a)) : O_WIDTH'(a);
		uwire [O_WIDTH-1:0]  bx = B_SIGNED? O_WIDTH'($signed(b)) : O_WIDTH'(b);
		assign	sum[pe*O_WIDTH +: O_WIDTH] = ax + bx;
	end : genPE

	always_ff @(posedge clk) begin
		if(rst)  OVld <= 0;
		else if(en)  OVld <= take;
	end
	always_ff @(posedge clk) begin
		if(take)  ODat <= sum;
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : add_streams
