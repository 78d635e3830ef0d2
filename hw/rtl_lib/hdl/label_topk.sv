// fewerbits RTL layer library: label select (top-K) as FINN's LabelSelect.
//
// Per input vector of LABELS values (PE per word, index order): the indices of the K largest
// values, largest first, ties to the lower index (ONNX TopK, FINN's Python reference), one
// index per output word. A sorted list of K (value, index) entries takes the PE values of a
// word in lane order; at the end of a vector it moves to the output buffer, which streams the
// K indices while the next vector is read (the input waits only if the buffer is still busy).
module label_topk #(
	int unsigned  LABELS,
	int unsigned  PE,
	int unsigned  K,
	int unsigned  WIDTH,        // input element width
	bit           SIGNED,
	int unsigned  OUT_WIDTH,    // index width

	localparam int unsigned  FOLDS = LABELS / PE,
	localparam int unsigned  F_BITS = FOLDS > 1? $clog2(FOLDS) : 1,
	localparam int unsigned  I_BITS = LABELS > 1? $clog2(LABELS) : 1,
	localparam int unsigned  O_BITS = K > 1? $clog2(K+1) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*WIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [OUT_WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	typedef logic [WIDTH-1:0]  val_t;
	typedef logic [I_BITS-1:0]  idx_t;

	function automatic logic greater(input val_t a, input val_t b);
		return  SIGNED? $signed(a) > $signed(b) : a > b;
	endfunction : greater

	// sorted list (descending), filled entries first
	val_t  Val[K];
	idx_t  Idx[K];
	logic [K-1:0]  Full;
	logic [F_BITS-1:0]  Fold = 0;

	// output buffer: K indices and how many are left to send
	idx_t  OIdx[K];
	logic [O_BITS-1:0]  OCnt = 0;

	uwire  last_fold = Fold == FOLDS-1;
	uwire  obuf_free = OCnt == 0 || (OCnt == 1 && m_tready);
	assign	s_tready = !last_fold || obuf_free;
	uwire  take = s_tvalid && s_tready;

	// the PE insertions of one word, in lane order (combinational chain)
	val_t  nval[PE+1][K];
	idx_t  nidx[PE+1][K];
	logic [K-1:0]  nfull[PE+1];
	always_comb begin
		for(int unsigned  k = 0; k < K; k++) begin
			nval[0][k] = Val[k];
			nidx[0][k] = Idx[k];
		end
		// a new vector starts from an empty list
		nfull[0] = Fold == 0? '0 : Full;
		for(int unsigned  pe = 0; pe < PE; pe++) begin
			automatic val_t  v = s_tdata[pe*WIDTH +: WIDTH];
			automatic idx_t  i = idx_t'(Fold*PE + pe);
			automatic logic  placed = 0;
			for(int unsigned  k = 0; k < K; k++) begin
				// entry k moves down if the new value goes at or above it
				automatic logic  here = !placed && (!nfull[pe][k] || greater(v, nval[pe][k]));
				if(here) begin
					placed = 1;
					nval[pe+1][k] = v;
					nidx[pe+1][k] = i;
				end
				else if(placed) begin
					nval[pe+1][k] = nval[pe][k == 0? 0 : k-1];
					nidx[pe+1][k] = nidx[pe][k == 0? 0 : k-1];
				end
				else begin
					nval[pe+1][k] = nval[pe][k];
					nidx[pe+1][k] = nidx[pe][k];
				end
			end
			nfull[pe+1] = K'({nfull[pe], 1'b1});  // one more entry (a prefix), at most K
		end
	end

	always_ff @(posedge clk) begin
		if(rst) begin
			Fold <= 0;
			Full <= '0;
			OCnt <= 0;
		end
		else begin
			if(m_tvalid && m_tready)  OCnt <= OCnt - 1;
			if(take) begin
				Fold <= last_fold? 0 : Fold + 1;
				Full <= nfull[PE];
				if(last_fold)  OCnt <= O_BITS'(K);
			end
		end
	end
	always_ff @(posedge clk) begin
		if(take) begin
			for(int unsigned  k = 0; k < K; k++) begin
				Val[k] <= nval[PE][k];
				Idx[k] <= nidx[PE][k];
			end
		end
		if(take && last_fold) begin
			for(int unsigned  k = 0; k < K; k++)  OIdx[k] <= nidx[PE][k];
		end
		else if(m_tvalid && m_tready) begin
			for(int unsigned  k = 0; k + 1 < K; k++)  OIdx[k] <= OIdx[k+1];
		end
	end
	assign	m_tvalid = OCnt != 0;
	assign	m_tdata = OUT_WIDTH'(OIdx[0]);

endmodule : label_topk
