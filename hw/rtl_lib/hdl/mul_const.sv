// fewerbits RTL layer library: elementwise multiplication of a stream by one integer constant
// (FINN's ElementwiseMul with a constant operand: a residual branch's integer weight).
//
// Per word PE lanes: out = a * C, the operand sign- or zero-extended to the output width (the
// product's range, chosen by FINN's datatype inference; the product fits, so the product
// modulo 2**O_WIDTH is exact). One output word per cycle, one cycle latency.
module mul_const #(
	int unsigned  PE,
	int unsigned  A_WIDTH,
	bit           A_SIGNED,
	int           C,
	int unsigned  O_WIDTH
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*A_WIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*O_WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	logic  OVld = 0;
	logic [PE*O_WIDTH-1:0]  ODat;

	uwire  en = !OVld || m_tready;
	uwire  take = en && s_tvalid;
	assign	s_tready = en;

	uwire [O_WIDTH-1:0]  c = O_WIDTH'(C);
	uwire [PE*O_WIDTH-1:0]  prod;
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		uwire [A_WIDTH-1:0]  a = s_tdata[pe*A_WIDTH +: A_WIDTH];
		uwire [O_WIDTH-1:0]  ax = A_SIGNED? O_WIDTH'($signed(a)) : O_WIDTH'(a);
		assign	prod[pe*O_WIDTH +: O_WIDTH] = ax * c;
	end : genPE

	always_ff @(posedge clk) begin
		if(rst)  OVld <= 0;
		else if(en)  OVld <= take;
	end
	always_ff @(posedge clk) begin
		if(take)  ODat <= prod;
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : mul_const
