// fewerbits RTL layer library: stream duplication (FINN's DuplicateStreams).
//
// Every input word goes to each of N outputs; the input is taken once every output has taken
// the word. Sent[i] records the outputs that already took the current word, so a stalled
// output holds only itself back by one word and the others see each word exactly once. No
// data register: out_i valid = in valid && !Sent[i] (AXI-stream: a valid, once high, stays
// high until its handshake), in ready = every output either ready or already served.
// Zero latency, one word per cycle.
module stream_dup #(
	int unsigned  WIDTH,      // bits per word (PE * element width)
	int unsigned  N           // outputs
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [WIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [N-1:0][WIDTH-1:0]  m_tdata,
	output	logic [N-1:0]  m_tvalid,
	input	logic [N-1:0]  m_tready
);

	logic [N-1:0]  Sent = '0;

	uwire [N-1:0]  done = Sent | m_tready;  // served before or now
	assign	s_tready = &done;
	for(genvar  i = 0; i < N; i++) begin : genOut
		assign	m_tdata[i] = s_tdata;
		assign	m_tvalid[i] = s_tvalid && !Sent[i];
	end : genOut

	always_ff @(posedge clk) begin
		if(rst)  Sent <= '0;
		else if(s_tvalid)  Sent <= s_tready? '0 : Sent | (m_tvalid & m_tready);
	end

endmodule : stream_dup
